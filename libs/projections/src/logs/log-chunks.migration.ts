import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Log chunks as the log relay stores them (issue 3: "persists log chunks per rank in order").
 * Written by the log relay alone, read by the gateway. The tenant leads both keys (invariant 7):
 * every read names it. The primary key is the chunk's identity, so a redelivered chunk is a no-op
 * insert; the second index is the gateway's order, by time across the ranks of an attempt.
 */
export class CreateLogChunks1763910000100 implements MigrationInterface {
  name = 'CreateLogChunks1763910000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE log_chunks (
        tenant    text NOT NULL,
        job_id    text NOT NULL,
        attempt   integer NOT NULL CHECK (attempt >= 1),
        rank      integer NOT NULL CHECK (rank >= 0),
        seq       integer NOT NULL CHECK (seq >= 0),
        stream    text NOT NULL CHECK (stream IN ('stdout', 'stderr')),
        data      text NOT NULL,
        at        timestamptz NOT NULL,
        eof       boolean NOT NULL DEFAULT false,
        exit_code integer,
        PRIMARY KEY (tenant, job_id, attempt, rank, seq)
      )`);
    await queryRunner.query(
      'CREATE INDEX log_chunks_by_time ON log_chunks (tenant, job_id, attempt, at, rank, seq)',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE log_chunks');
  }
}

export const logMigrations = [CreateLogChunks1763910000100];
