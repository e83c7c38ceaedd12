/**
 * What the sandbox stand-ins accept, and so what the demo seed stores as the shipped
 * integrations' secrets. Real deployments set their own through the console's Credentials page.
 */
export const DEMO_CRM_API_KEY = 'dev-crm-key';

export const DEMO_CREDENTIALS: Record<string, Record<string, string>> = {
  'accounting-export': { clientId: 'accounting-export', clientSecret: 'dev-accounting-secret' },
  'crm-sync': { apiKey: DEMO_CRM_API_KEY },
};
