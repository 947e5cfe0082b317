import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * What each idempotent consumer has applied (ARCHITECTURE.md invariant 3): one row per
 * (consumer, message id), written in the same transaction as the effect, so a redelivered or
 * republished message finds its row and changes nothing.
 */
export class AppliedMessages1732400000000 implements MigrationInterface {
  readonly name = 'AppliedMessages1732400000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE applied_messages (
        consumer    text        NOT NULL,
        message_id  text        NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE applied_messages');
  }
}
