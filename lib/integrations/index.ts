import type { IntegrationDefinition } from '../platform/contract';
import { accountingExport } from './accounting-export';
import { crmSync } from './crm-sync';
import { paymentEvents } from './payment-events';

/**
 * Every integration of the platform, in one list: start-up builds the registry from it
 * (`buildRegistry(integrations)`), so adding an integration is one import and one entry here.
 */
export const integrations: readonly IntegrationDefinition[] = [accountingExport, crmSync, paymentEvents];

export default integrations;
