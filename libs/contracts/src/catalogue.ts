import { jobEventDefinitions } from './events/job.events';
import { jobCommandDefinitions } from './commands/job.commands';
import { tenantEventDefinitions } from './events/tenant.events';
import { nodeEventDefinitions } from './events/node.events';
import { nodeCommandDefinitions } from './commands/node.commands';
import { tenantCommandDefinitions } from './commands/tenant.commands';
import { fileEventDefinitions } from './events/file.events';
import { fileCommandDefinitions } from './commands/file.commands';
import { pricingCommandDefinitions, pricingEventDefinitions } from './events/pricing.events';
import { alertEventDefinitions } from './events/alert.events';
import { MessageRegistry } from './registry';

/** Every event type Gantry knows, at its current version, with upcasters for the old ones. */
export const eventRegistry = new MessageRegistry([
  ...jobEventDefinitions,
  ...tenantEventDefinitions,
  ...fileEventDefinitions,
  ...nodeEventDefinitions,
  ...pricingEventDefinitions,
  ...alertEventDefinitions,
]);
export const commandRegistry = new MessageRegistry([
  ...jobCommandDefinitions,
  ...tenantCommandDefinitions,
  ...fileCommandDefinitions,
  ...nodeCommandDefinitions,
  ...pricingCommandDefinitions,
]);
