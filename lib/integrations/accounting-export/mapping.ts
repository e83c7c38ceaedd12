import type { Mapping } from '../../platform/mapping';
import type { InvoiceRecord } from './source';

/**
 * The shipped mapping from an invoice to the accounting system's journal entry. Admins change it
 * in the console's mapping editor; every change is audited.
 */
export const defaultJournalMapping: Mapping = {
  key: 'number',
  filter: null,
  fields: [
    { target: 'reference', expression: 'number', type: 'string', required: true },
    { target: 'date', expression: 'issuedOn', type: 'date', required: true },
    { target: 'dueDate', expression: 'dueOn', type: 'date', required: true },
    { target: 'currency', expression: 'currency', type: 'string', required: true },
    { target: 'customerId', expression: 'customer.id', type: 'string', required: true },
    { target: 'customerName', expression: 'customer.name', type: 'string', required: true },
    { target: 'netAmount', expression: 'netTotal', type: 'decimal', required: true },
    { target: 'taxAmount', expression: 'taxTotal', type: 'decimal', required: true },
    { target: 'grossAmount', expression: 'grossTotal', type: 'decimal', required: true },
    { target: 'account', expression: 'lines[0].account', type: 'string', required: true },
    { target: 'description', expression: '"Invoice " & number & " for " & customer.name', type: 'string', required: true },
    { target: 'lineCount', expression: '$count(lines)', type: 'integer', required: true },
  ],
};

/** Sample source records for the mapping editor's live preview (the console also offers recent invoices). */
export const invoiceSamples: InvoiceRecord[] = [
  {
    id: '5f1c1a52-8a52-4f43-9d3f-1a0e5b0f4c01',
    number: 'INV-0000001',
    status: 'posted',
    issuedOn: '2026-11-02',
    dueOn: '2026-12-02',
    currency: 'EUR',
    netTotal: '1200.00',
    taxTotal: '228.00',
    grossTotal: '1428.00',
    postedAt: '2026-11-02T09:12:00.000Z',
    updatedAt: '2026-11-02T09:12:00.000Z',
    customer: {
      id: 'c0a8012e-0000-4000-8000-000000000001',
      externalId: 'crm-0001',
      name: 'Globex GmbH',
      email: 'billing@globex.example',
      country: 'DE',
    },
    lines: [
      { position: 0, description: 'Platform subscription', quantity: '1.000', unitPrice: '1000.00', taxRate: '0.1900', account: '4000' },
      { position: 1, description: 'Support plan', quantity: '1.000', unitPrice: '200.00', taxRate: '0.1900', account: '4200' },
    ],
  },
  {
    id: '5f1c1a52-8a52-4f43-9d3f-1a0e5b0f4c02',
    number: 'INV-0000002',
    status: 'posted',
    issuedOn: '2026-11-03',
    dueOn: '2026-12-03',
    currency: 'USD',
    netTotal: '89.90',
    taxTotal: '0.00',
    grossTotal: '89.90',
    postedAt: '2026-11-03T15:40:00.000Z',
    updatedAt: '2026-11-03T15:40:00.000Z',
    customer: { id: 'c0a8012e-0000-4000-8000-000000000002', externalId: null, name: 'Acme Inc', email: null, country: 'US' },
    lines: [{ position: 0, description: 'Training day', quantity: '1.000', unitPrice: '89.90', taxRate: '0.0000', account: '4400' }],
  },
  {
    id: '5f1c1a52-8a52-4f43-9d3f-1a0e5b0f4c03',
    number: 'INV-0000003',
    status: 'posted',
    issuedOn: '2026-11-04',
    dueOn: '2026-12-04',
    currency: 'GBP',
    netTotal: '0.00',
    taxTotal: '0.00',
    grossTotal: '0.00',
    postedAt: '2026-11-04T08:00:00.000Z',
    updatedAt: '2026-11-04T08:00:00.000Z',
    customer: {
      id: 'c0a8012e-0000-4000-8000-000000000003',
      externalId: 'crm-0003',
      name: 'Initech Ltd',
      email: 'ap@initech.example',
      country: 'GB',
    },
    lines: [],
  },
];
