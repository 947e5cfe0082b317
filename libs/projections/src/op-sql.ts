import { type ProjectionOp, type ProjectionTable, type ProjectionValue } from './projection-op';

export interface SqlStatement {
  readonly text: string;
  readonly values: ProjectionValue[];
}

const quote = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Checks an op against its table before any SQL is built from it: identifiers come from the
 * projection's declared table, never straight from the op, and a projector that writes an
 * undeclared column or an incomplete key is a bug that should stop the batch.
 */
const checkOp = (op: ProjectionOp, table: ProjectionTable): void => {
  const keyColumns = Object.keys(op.key);
  const sameKey =
    keyColumns.length === table.key.length &&
    table.key.every((column) => keyColumns.includes(column));
  if (!sameKey)
    throw new Error(`${op.kind} on ${table.name}: key must be exactly (${table.key.join(', ')})`);
  const changed = Object.keys(op.kind === 'upsert' ? op.values : op.set);
  for (const column of changed) {
    if (
      !table.columns.includes(column) ||
      table.key.includes(column) ||
      column === table.versionColumn
    ) {
      throw new Error(`${op.kind} on ${table.name}: '${column}' is not a writable column`);
    }
  }
  if (!Number.isInteger(op.version) || op.version < 1) {
    throw new Error(`${op.kind} on ${table.name}: version must be a positive integer`);
  }
};

/**
 * Renders an op as one statement. Both forms only touch a row whose stored version is older than
 * the op's, so replaying an op, or an older one, changes nothing.
 */
export const opToSql = (op: ProjectionOp, table: ProjectionTable): SqlStatement => {
  checkOp(op, table);
  const version = quote(table.versionColumn);
  const name = quote(table.name);
  switch (op.kind) {
    case 'upsert': {
      const columns = [...table.key, ...Object.keys(op.values)];
      const values = [
        ...table.key.map((c) => op.key[c] ?? null),
        ...Object.values(op.values),
        op.version,
      ];
      const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
      const updates = [...Object.keys(op.values), table.versionColumn]
        .map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`)
        .join(', ');
      return {
        text:
          `INSERT INTO ${name} (${[...columns, table.versionColumn].map(quote).join(', ')}) VALUES (${placeholders}) ` +
          `ON CONFLICT (${table.key.map(quote).join(', ')}) DO UPDATE SET ${updates} ` +
          `WHERE ${name}.${version} < EXCLUDED.${version}`,
        values,
      };
    }
    case 'update': {
      const setColumns = Object.keys(op.set);
      const values: ProjectionValue[] = [...Object.values(op.set), op.version];
      const assignments = [...setColumns, table.versionColumn].map(
        (c, i) => `${quote(c)} = $${i + 1}`,
      );
      const versionParam = `$${values.length}`;
      const where = table.key.map((c) => {
        values.push(op.key[c] ?? null);
        return `${quote(c)} = $${values.length}`;
      });
      return {
        text: `UPDATE ${name} SET ${assignments.join(', ')} WHERE ${where.join(' AND ')} AND ${version} < ${versionParam}`,
        values,
      };
    }
    default: {
      const unknownOp: never = op;
      throw new Error(`unknown projection op ${JSON.stringify(unknownOp)}`);
    }
  }
};
