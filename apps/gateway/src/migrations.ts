import { eventStoreMigrations } from '@gantry/event-store';
import {
  logMigrations,
  projectionMigrations,
  schedulerNodesMigrations,
  stagedFilesMigrations,
} from '@gantry/projections';

/**
 * The gateway writes nothing, but reads the store and every projection it answers from, so their
 * tables must exist before it serves: the one list main.ts and the tests migrate with.
 */
export const gatewayMigrations = [
  ...eventStoreMigrations,
  ...projectionMigrations,
  ...logMigrations,
  ...stagedFilesMigrations,
  ...schedulerNodesMigrations,
];
