import { type MigrationInterface, type QueryRunner } from 'typeorm';

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

export const projectionMigrations = [
  CreateProjectionBookkeeping1763910000000,
  CreateJobSummary1763910000001,
];
