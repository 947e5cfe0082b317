import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { AddJobSummaryOutputs1763910000600 } from './job-summary/job-summary-outputs.migration';
import { CreateJobSteps1765200000000 } from './job-summary/job-steps.migration';
import { TENANT_PAUSE_HOLD_REASON } from '@gantry/contracts';

/**
 * The projections' own tables. Read models live next to the event store but are not it: they
 * may be truncated and rebuilt at any time (ARCHITECTURE.md invariant 6), which is why nothing
 * here is referenced by the store's tables or the other way round.
 */
export class CreateProjectionBookkeeping1763910000000 implements MigrationInterface {
  name = 'CreateProjectionBookkeeping1763910000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // One row per projection. Its row lock is what keeps two sinks of the same projection from
    // interleaving batches. Where it has read up to in the store (for a catch-up or a rebuild)
    // and on the bus (to recreate a lost consumer) are kept apart: they are different orders.
    await queryRunner.query(`
      CREATE TABLE projection_checkpoints (
        projection      text PRIMARY KEY,
        transaction_id  text,
        global_position bigint,
        bus_sequence    bigint,
        events_applied  bigint NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
    // The last version applied from each stream, per projection: how a redelivery is recognised
    // and a gap detected (invariant 8), whatever rows the projector chose to write.
    await queryRunner.query(`
      CREATE TABLE projection_stream_versions (
        projection text NOT NULL,
        stream_id  text NOT NULL,
        version    integer NOT NULL CHECK (version > 0),
        PRIMARY KEY (projection, stream_id)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE projection_stream_versions');
    await queryRunner.query('DROP TABLE projection_checkpoints');
  }
}

export class CreateJobSummary1763910000001 implements MigrationInterface {
  name = 'CreateJobSummary1763910000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The tenant leads the key: every read is scoped to one tenant (invariant 7).
    await queryRunner.query(`
      CREATE TABLE job_summary (
        tenant       text NOT NULL,
        job_id       text NOT NULL,
        state        text NOT NULL,
        name         text,
        nodes        integer NOT NULL,
        pool         text NOT NULL,
        priority     integer NOT NULL,
        reason_code  text,
        reason       text,
        submitted_at timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        last_version integer NOT NULL,
        PRIMARY KEY (tenant, job_id)
      )`);
    // The gateway's list: a tenant's jobs, newest first (FEATURES.md A1).
    await queryRunner.query(
      'CREATE INDEX job_summary_tenant_submitted ON job_summary (tenant, submitted_at DESC, job_id)',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE job_summary');
  }
}

/**
 * The lifecycle's columns (FEATURES.md D1, issue 3): attempt, lease epoch, the gang with its
 * ranks, per-rank exit codes, and the lifecycle's timestamps. Defaults describe a job that has
 * only been submitted, so rows written before this migration stay true until a rebuild.
 */
export class AddJobSummaryLifecycle1763910000002 implements MigrationInterface {
  name = 'AddJobSummaryLifecycle1763910000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE job_summary
        ADD COLUMN attempt          integer NOT NULL DEFAULT 0,
        ADD COLUMN lease_epoch      integer NOT NULL DEFAULT 0,
        ADD COLUMN assigned_nodes   jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN exit_codes       jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
        ADD COLUMN not_before       timestamptz,
        ADD COLUMN admitted_at      timestamptz,
        ADD COLUMN queued_at        timestamptz,
        ADD COLUMN started_at       timestamptz,
        ADD COLUMN finished_at      timestamptz`);
    // The gateway's list filtered by state (FEATURES.md A1: GET /v1/jobs?state=).
    await queryRunner.query(
      'CREATE INDEX job_summary_tenant_state_submitted ON job_summary (tenant, state, submitted_at DESC, job_id)',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX job_summary_tenant_state_submitted');
    await queryRunner.query(`
      ALTER TABLE job_summary
        DROP COLUMN attempt, DROP COLUMN lease_epoch, DROP COLUMN assigned_nodes,
        DROP COLUMN exit_codes, DROP COLUMN cancel_requested, DROP COLUMN not_before,
        DROP COLUMN admitted_at, DROP COLUMN queued_at, DROP COLUMN started_at,
        DROP COLUMN finished_at`);
  }
}

/**
 * The tenant directory (FEATURES.md B5, I1): tenants with their quotas, and API key hashes by key
 * id, the gateway's lookup for every authenticated request. Key ids are globally unique (random),
 * so the key id alone is the primary key.
 */
export class CreateTenantDirectory1763910000003 implements MigrationInterface {
  name = 'CreateTenantDirectory1763910000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE tenant_directory (
        tenant       text PRIMARY KEY,
        name         text NOT NULL,
        quotas       jsonb NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        last_version integer NOT NULL
      )`);
    await queryRunner.query(`
      CREATE TABLE api_keys (
        key_id       text PRIMARY KEY,
        tenant       text NOT NULL,
        hash         text NOT NULL,
        created_at   timestamptz NOT NULL,
        revoked_at   timestamptz,
        last_version integer NOT NULL
      )`);
    await queryRunner.query('CREATE INDEX api_keys_tenant ON api_keys (tenant)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE api_keys');
    await queryRunner.query('DROP TABLE tenant_directory');
  }
}

/**
 * Tenant usage (FEATURES.md B4): one row per reserved job, released or not. A tenant's usage is the
 * sum over its unreleased rows; released rows stay, the history a burndown is drawn from.
 */
export class CreateTenantReservations1763910000400 implements MigrationInterface {
  name = 'CreateTenantReservations1763910000400';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE tenant_reservations (
        tenant       text NOT NULL,
        job_id       text NOT NULL,
        cores        double precision NOT NULL,
        memory_mib   bigint NOT NULL,
        gpus         integer NOT NULL,
        reserved_at  timestamptz NOT NULL,
        released_at  timestamptz,
        last_version integer NOT NULL,
        PRIMARY KEY (tenant, job_id)
      )`);
    // What /v1/usage sums: the tenant's live reservations only.
    await queryRunner.query(
      'CREATE INDEX tenant_reservations_live ON tenant_reservations (tenant) WHERE released_at IS NULL',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE tenant_reservations');
  }
}

/**
 * Money (FEATURES.md B3): each reservation's pool, its locked rate and projected cost, and once
 * released what it really ran and cost; a tenant's budget and pause; its bytes (B1): stored now,
 * and uploaded and downloaded this month. Released rows by day are the
 * burndown, so they get an index of their own.
 */
export class AddTenantSpend1763910000500 implements MigrationInterface {
  name = 'AddTenantSpend1763910000500';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE tenant_directory
        ADD COLUMN budget        jsonb,
        ADD COLUMN paused        jsonb,
        ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0,
        ADD COLUMN ingress       jsonb,
        ADD COLUMN egress        jsonb`);
    await queryRunner.query(`
      ALTER TABLE tenant_reservations
        ADD COLUMN pool            text,
        ADD COLUMN rate_per_hour   double precision NOT NULL DEFAULT 0,
        ADD COLUMN projected_cost  double precision NOT NULL DEFAULT 0,
        ADD COLUMN runtime_seconds double precision NOT NULL DEFAULT 0,
        ADD COLUMN cost            double precision NOT NULL DEFAULT 0`);
    await queryRunner.query(
      'CREATE INDEX tenant_reservations_released ON tenant_reservations (tenant, released_at) WHERE released_at IS NOT NULL',
    );
    // The jobs a pause held, which the resume must release: few, found without a scan.
    await queryRunner.query(
      `CREATE INDEX job_summary_pause_held ON job_summary (tenant) WHERE state = 'HELD' AND reason = '${TENANT_PAUSE_HOLD_REASON}'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX job_summary_pause_held');
    await queryRunner.query('DROP INDEX tenant_reservations_released');
    await queryRunner.query(`
      ALTER TABLE tenant_reservations
        DROP COLUMN pool, DROP COLUMN rate_per_hour, DROP COLUMN projected_cost,
        DROP COLUMN runtime_seconds, DROP COLUMN cost`);
    await queryRunner.query(
      'ALTER TABLE tenant_directory DROP COLUMN budget, DROP COLUMN paused, DROP COLUMN storage_bytes, DROP COLUMN ingress, DROP COLUMN egress',
    );
  }
}

/** Alerts (FEATURES.md H3): a row per condition and subject; open ones first in every listing. */
export class CreateAlerts1763910000700 implements MigrationInterface {
  name = 'CreateAlerts1763910000700';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE alerts (
        stream_id    text PRIMARY KEY,
        kind         text NOT NULL,
        subject      text NOT NULL,
        tenant       text,
        severity     text NOT NULL,
        message      text NOT NULL,
        details      jsonb NOT NULL,
        open         boolean NOT NULL,
        raised_at    timestamptz NOT NULL,
        resolved_at  timestamptz,
        resolution   text,
        last_version integer NOT NULL
      )`);
    await queryRunner.query('CREATE INDEX alerts_raised ON alerts (raised_at DESC)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE alerts');
  }
}

export const projectionMigrations = [
  CreateProjectionBookkeeping1763910000000,
  CreateJobSummary1763910000001,
  AddJobSummaryLifecycle1763910000002,
  CreateTenantDirectory1763910000003,
  CreateTenantReservations1763910000400,
  AddTenantSpend1763910000500,
  AddJobSummaryOutputs1763910000600,
  CreateAlerts1763910000700,
  CreateJobSteps1765200000000,
];
