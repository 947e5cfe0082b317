import { type Pool } from 'pg';
import { DELETED_STAGED_FILE_STATE, type StagedFileState } from './staged-files.projection';

export interface StagedFileView {
  readonly id: string;
  readonly name: string;
  readonly state: StagedFileState;
  readonly size: number | null;
  readonly sha256: string | null;
  readonly createdAt: string;
  readonly uploadedAt: string | null;
}

interface StagedFileRow {
  file_id: string;
  name: string;
  state: StagedFileState;
  size: string | null;
  sha256: string | null;
  created_at: Date;
  uploaded_at: Date | null;
}

/**
 * One file of one tenant; another tenant's file, or a deleted one, is as absent as a missing one
 * (null).
 */
export const readStagedFile = async (
  db: Pick<Pool, 'query'>,
  tenant: string,
  fileId: string,
): Promise<StagedFileView | null> => {
  const { rows } = await db.query<StagedFileRow>(
    `SELECT file_id, name, state, size::text AS size, sha256, created_at, uploaded_at
       FROM staged_files WHERE tenant = $1 AND file_id = $2 AND state <> $3`,
    [tenant, fileId, DELETED_STAGED_FILE_STATE],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    id: row.file_id,
    name: row.name,
    state: row.state,
    size: row.size === null ? null : Number(row.size),
    sha256: row.sha256,
    createdAt: row.created_at.toISOString(),
    uploadedAt: row.uploaded_at === null ? null : row.uploaded_at.toISOString(),
  };
};
