import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Steps (D5): one row per step of a job with steps, and on every job the step of another job it
 * runs, if any. Defaults describe a job without steps, so rows written before this migration stay
 * true until a rebuild.
 */
export class CreateJobSteps1765200000000 implements MigrationInterface {
  name = 'CreateJobSteps1765200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE job_summary
        ADD COLUMN run           integer NOT NULL DEFAULT 0,
        ADD COLUMN parent_job_id text,
        ADD COLUMN parent_step   text,
        ADD COLUMN parent_run    integer`);
    await queryRunner.query(`
      CREATE TABLE job_steps (
        tenant       text NOT NULL,
        job_id       text NOT NULL,
        step         text NOT NULL,
        position     integer NOT NULL,
        depends_on   jsonb NOT NULL,
        state        text NOT NULL,
        run          integer NOT NULL,
        child_job_id text,
        outputs      jsonb NOT NULL,
        reason       text,
        updated_at   timestamptz NOT NULL,
        last_version integer NOT NULL,
        PRIMARY KEY (tenant, job_id, step)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE job_steps');
    await queryRunner.query(
      'ALTER TABLE job_summary DROP COLUMN run, DROP COLUMN parent_job_id, DROP COLUMN parent_step, ' +
        'DROP COLUMN parent_run',
    );
  }
}
