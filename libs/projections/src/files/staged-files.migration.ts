import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * staged_files (issue 3, staging). The tenant leads the key: the gateway only ever reads one
 * tenant's files (invariant 7). `size` and `sha256` hold the announced values while the file is
 * PENDING_UPLOAD (null when none were given) and the measured ones once it is READY.
 */
export class CreateStagedFiles1763910000300 implements MigrationInterface {
  name = 'CreateStagedFiles1763910000300';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE staged_files (
        tenant       text NOT NULL,
        file_id      text NOT NULL,
        name         text NOT NULL,
        state        text NOT NULL,
        size         bigint,
        sha256       text,
        created_at   timestamptz NOT NULL,
        uploaded_at  timestamptz,
        last_version integer NOT NULL,
        PRIMARY KEY (tenant, file_id)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE staged_files');
  }
}

export const stagedFilesMigrations = [CreateStagedFiles1763910000300];
