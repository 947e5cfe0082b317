import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The event store's tables. `events` is the source of truth (ARCHITECTURE.md): append-only,
 * enforced by the database itself so that no client, ORM or psql session can rewrite history
 * (invariant 1). Migrations are append-only too: a change is a new class, never an edit.
 */
export const EVENTS_CHANNEL = 'gantry_events';
/** Advisory lock (bigint key space) held by the one transaction currently notifying. */
const NOTIFY_LOCK_KEY = 0x6765_7674; // 'gevt'

export class CreateEventStore1763900000000 implements MigrationInterface {
  name = 'CreateEventStore1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // transaction_id is what readers order by (with global_position breaking ties inside one
    // transaction): positions are taken at insert, not at commit, so position order alone lets a
    // late committer fall behind a reader that has moved on (invariant 3).
    await queryRunner.query(`
      CREATE TABLE events (
        global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id        uuid NOT NULL UNIQUE,
        stream_id       text NOT NULL,
        stream_version  integer NOT NULL CHECK (stream_version > 0),
        tenant          text NOT NULL,
        type            text NOT NULL,
        schema_version  integer NOT NULL CHECK (schema_version > 0),
        data            jsonb NOT NULL,
        metadata        jsonb NOT NULL,
        occurred_at     timestamptz NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream_id, stream_version)
      )`);
    await queryRunner.query(
      'CREATE INDEX events_transaction_order ON events (transaction_id, global_position)',
    );

    // One row per stream: the compare-and-set target of optimistic concurrency (invariant 2)
    // and the last transaction that appended, which keeps transaction order = version order.
    await queryRunner.query(`
      CREATE TABLE streams (
        stream_id           text PRIMARY KEY,
        tenant              text NOT NULL,
        version             integer NOT NULL CHECK (version > 0),
        last_transaction_id xid8 NOT NULL
      )`);

    // Snapshots are a cache, not truth: they may be deleted at any time and are rebuilt by folding.
    await queryRunner.query(`
      CREATE TABLE snapshots (
        stream_id      text PRIMARY KEY,
        version        integer NOT NULL CHECK (version > 0),
        schema_version integer NOT NULL,
        state          jsonb NOT NULL,
        saved_at       timestamptz NOT NULL DEFAULT now()
      )`);

    await queryRunner.query(`
      CREATE FUNCTION gantry_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'events are append-only: % on events is not allowed', TG_OP
          USING ERRCODE = 'GS010', HINT = 'append a compensating event instead';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
      FOR EACH ROW EXECUTE FUNCTION gantry_refuse_event_change()`);
    // Row triggers never fire for TRUNCATE; a statement trigger does.
    await queryRunner.query(`
      CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
      FOR EACH STATEMENT EXECUTE FUNCTION gantry_refuse_event_change()`);
    // Belt and braces for roles other than the owner; the triggers stop the owner too.
    await queryRunner.query('REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC');

    // Only a wake-up: the publisher re-reads the store and also polls, so a notification that is
    // lost or skipped costs latency, never an event. Postgres serialises the commits of all
    // notifying transactions on one database-wide lock (fsync included), which would make
    // concurrent appenders commit one by one; so a transaction skips the notification while
    // another one is already notifying (the xact advisory lock), and that one's commit, or the
    // publisher's poll, wakes the publisher for both.
    await queryRunner.query(`
      CREATE FUNCTION gantry_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF pg_try_advisory_xact_lock(${NOTIFY_LOCK_KEY}) THEN
          PERFORM pg_notify('${EVENTS_CHANNEL}', '');
        END IF;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER events_notify AFTER INSERT ON events
      FOR EACH STATEMENT EXECUTE FUNCTION gantry_notify_events()`);

    await queryRunner.query(APPEND_FUNCTION);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'DROP FUNCTION gantry_append_to_stream(text, text, integer, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[])',
    );
    await queryRunner.query('DROP TABLE snapshots');
    await queryRunner.query('DROP TABLE streams');
    await queryRunner.query('DROP TABLE events');
    await queryRunner.query('DROP FUNCTION gantry_notify_events()');
    await queryRunner.query('DROP FUNCTION gantry_refuse_event_change()');
  }
}

export class CreatePublisherCheckpoints1763900000001 implements MigrationInterface {
  name = 'CreatePublisherCheckpoints1763900000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Where each publisher has published up to, in the store's read order. Both null = nothing yet.
    await queryRunner.query(`
      CREATE TABLE publisher_checkpoints (
        name           text PRIMARY KEY,
        transaction_id xid8,
        position       bigint,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        CHECK ((transaction_id IS NULL) = (position IS NULL))
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE publisher_checkpoints');
  }
}

/**
 * The append function of the first migration (dropped by AppendWithoutStreamsTable1763900000002,
 * which restores it on down()). Appends a batch to one stream in one statement.
 *
 * p_expected_version: NULL = any, 0 = the stream must not exist, n = the stream must be at n.
 * Failures carry their own SQLSTATEs so the client can type them without parsing messages:
 *   GS001 version conflict (DETAIL = actual version), GS002 transaction-order conflict
 *   (DETAIL = actual version), GS003 the stream belongs to another tenant.
 *
 * Why GS002 exists: readers order by transaction id, so within a stream transaction ids must
 * grow with versions. A transaction can only break that if it obtained its xid before another
 * transaction that then appended to the same stream and committed first; appending now would put
 * a lower xid at a higher version, and readers would deliver the stream out of order. It is
 * refused (retryable: a fresh transaction gets a fresh, higher xid). Equal xids are fine: that is
 * the same transaction appending twice. The check sits in the UPDATE's WHERE so it is re-evaluated
 * against the committed row after waiting on a concurrent writer's lock.
 */
const APPEND_FUNCTION = `
CREATE FUNCTION gantry_append_to_stream(
  p_stream_id text,
  p_tenant text,
  p_expected_version integer,
  p_event_ids uuid[],
  p_types text[],
  p_schema_versions integer[],
  p_data jsonb[],
  p_metadata jsonb[],
  p_occurred_at timestamptz[]
) RETURNS TABLE (next_version integer, global_positions bigint[], transaction_id xid8)
LANGUAGE plpgsql AS $$
DECLARE
  v_count    integer := cardinality(p_event_ids);
  v_xid      xid8 := pg_current_xact_id();
  v_previous integer;
  v_actual   integer;
  v_last     xid8;
  v_tenant   text;
BEGIN
  IF p_expected_version IS NULL THEN
    INSERT INTO streams AS s (stream_id, tenant, version, last_transaction_id)
    VALUES (p_stream_id, p_tenant, v_count, v_xid)
    ON CONFLICT (stream_id) DO UPDATE
      SET version = s.version + v_count, last_transaction_id = v_xid
      WHERE s.last_transaction_id <= v_xid AND s.tenant = p_tenant
    RETURNING s.version - v_count INTO v_previous;
  ELSIF p_expected_version = 0 THEN
    INSERT INTO streams (stream_id, tenant, version, last_transaction_id)
    VALUES (p_stream_id, p_tenant, v_count, v_xid)
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING 0 INTO v_previous;
  ELSE
    UPDATE streams AS s
      SET version = s.version + v_count, last_transaction_id = v_xid
      WHERE s.stream_id = p_stream_id
        AND s.version = p_expected_version
        AND s.last_transaction_id <= v_xid
        AND s.tenant = p_tenant
    RETURNING p_expected_version INTO v_previous;
  END IF;

  IF v_previous IS NULL THEN
    SELECT s.version, s.last_transaction_id, s.tenant INTO v_actual, v_last, v_tenant
      FROM streams s WHERE s.stream_id = p_stream_id;
    IF v_tenant IS NOT NULL AND v_tenant <> p_tenant THEN
      RAISE EXCEPTION 'stream % belongs to another tenant', p_stream_id USING ERRCODE = 'GS003';
    END IF;
    IF v_last IS NOT NULL AND v_last > v_xid
       AND (p_expected_version IS NULL OR p_expected_version = v_actual) THEN
      RAISE EXCEPTION 'stream % was appended by a later transaction', p_stream_id
        USING ERRCODE = 'GS002', DETAIL = v_actual::text;
    END IF;
    RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_id, coalesce(v_actual, 0), p_expected_version
      USING ERRCODE = 'GS001', DETAIL = coalesce(v_actual, 0)::text;
  END IF;

  RETURN QUERY
  WITH inserted AS (
    INSERT INTO events (event_id, stream_id, stream_version, tenant, type, schema_version, data, metadata, occurred_at)
    SELECT e.id, p_stream_id, v_previous + e.n::integer, p_tenant, e.type, e.schema_version, e.data, e.metadata, e.occurred_at
      FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata, p_occurred_at)
           WITH ORDINALITY AS e(id, type, schema_version, data, metadata, occurred_at, n)
     ORDER BY e.n
    RETURNING events.global_position, events.stream_version
  )
  SELECT v_previous + v_count,
         (SELECT array_agg(i.global_position ORDER BY i.stream_version) FROM inserted i),
         v_xid;
END $$`;

/**
 * Appends become one plain INSERT ... SELECT (event-store.ts, appendSql) that checks the
 * stream's last event row: no plpgsql, no second write. The `streams` row duplicated what the
 * last event already records (version, tenant, transaction id), and upserting it cost as much as
 * the insert itself. Optimistic concurrency now rests on the UNIQUE (stream_id, stream_version)
 * index of `events`, whose index also serves the append's "last event of this stream" read
 * (`WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1`, a backward index scan).
 */
export class AppendWithoutStreamsTable1763900000002 implements MigrationInterface {
  name = 'AppendWithoutStreamsTable1763900000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'DROP FUNCTION gantry_append_to_stream(text, text, integer, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[])',
    );
    await queryRunner.query('DROP TABLE streams');
    // Created with the table; stated here because the append depends on it (a no-op when present).
    await queryRunner.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (
          SELECT FROM pg_index i
          WHERE i.indrelid = 'events'::regclass AND i.indisunique AND i.indnkeyatts = 2
            AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'stream_id')
            AND i.indkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'stream_version')
        ) THEN
          ALTER TABLE events ADD CONSTRAINT events_stream_id_stream_version_key UNIQUE (stream_id, stream_version);
        END IF;
      END $$`);
  }

  /** Back to the previous schema: the streams rows are rebuilt from each stream's last event. */
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE streams (
        stream_id           text PRIMARY KEY,
        tenant              text NOT NULL,
        version             integer NOT NULL CHECK (version > 0),
        last_transaction_id xid8 NOT NULL
      )`);
    await queryRunner.query(`
      INSERT INTO streams (stream_id, tenant, version, last_transaction_id)
      SELECT DISTINCT ON (stream_id) stream_id, tenant, stream_version, transaction_id
        FROM events
       ORDER BY stream_id, stream_version DESC`);
    await queryRunner.query(APPEND_FUNCTION);
  }
}

export const eventStoreMigrations: ReadonlyArray<new () => MigrationInterface> = [
  CreateEventStore1763900000000,
  CreatePublisherCheckpoints1763900000001,
  AppendWithoutStreamsTable1763900000002,
];
