import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * A job's committed outputs (D4), and the running attempt's progress and the job's last
 * checkpoint (D7). Defaults describe a job that has none, so rows written before this migration
 * stay true until a rebuild.
 */
export class AddJobSummaryOutputs1763910000600 implements MigrationInterface {
  name = 'AddJobSummaryOutputs1763910000600';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE job_summary
        ADD COLUMN outputs    jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN progress   double precision,
        ADD COLUMN checkpoint jsonb`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'ALTER TABLE job_summary DROP COLUMN outputs, DROP COLUMN progress, DROP COLUMN checkpoint',
    );
  }
}
