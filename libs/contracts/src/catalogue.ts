import { jobEventDefinitions } from './events/job.events';
import { jobCommandDefinitions } from './commands/job.commands';
import { tenantEventDefinitions } from './events/tenant.events';
import { tenantCommandDefinitions } from './commands/tenant.commands';
import { MessageRegistry } from './registry';

/** Every event type Gantry knows, at its current version, with upcasters for the old ones. */
export const eventRegistry = new MessageRegistry([
  ...jobEventDefinitions,
  ...tenantEventDefinitions,
]);
export const commandRegistry = new MessageRegistry([
  ...jobCommandDefinitions,
  ...tenantCommandDefinitions,
]);
