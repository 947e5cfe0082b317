import { ErrorCodes, GantryError, type FileEvent, type FileId } from '@gantry/contracts';

export type StagedFileStateName = 'PENDING_UPLOAD' | 'READY' | 'DELETED';

/**
 * The staged file aggregate, pure (CONVENTIONS.md #1). One stream per file, its id the file id:
 *
 *   (absent) --CreateFile--> PENDING_UPLOAD --RecordUpload--> READY
 *   PENDING_UPLOAD | READY --DeleteFile--> DELETED     only a file an attempt made (D4)
 *
 * READY is final: the bytes behind a file never change, so whatever resolved a ref earlier and
 * whatever downloads it later see the same digest. An upload that does not match the size or
 * digest announced at creation is refused and changes nothing; the tenant may upload again.
 */
export type FileState =
  | { readonly status: 'absent' }
  | {
      readonly status: 'PENDING_UPLOAD';
      readonly fileId: FileId;
      readonly name: string;
      readonly expectedSize: number | null;
      readonly expectedSha256: string | null;
      readonly producedBy: ProducedBy | null;
    }
  | {
      readonly status: 'READY';
      readonly fileId: FileId;
      readonly name: string;
      readonly size: number;
      readonly sha256: string;
      readonly objectName: string;
      readonly producedBy: ProducedBy | null;
    }
  | { readonly status: 'DELETED'; readonly fileId: FileId; readonly name: string };

/** The job and lease epoch an attempt's file was made under (D4); absent for a tenant's file. */
export interface ProducedBy {
  readonly jobId: string;
  readonly leaseEpoch: number;
}

export type FileCommand =
  | {
      readonly type: 'CreateFile';
      readonly data: {
        readonly fileId: FileId;
        readonly name: string;
        readonly size?: number | undefined;
        readonly sha256?: string | undefined;
        readonly producedBy?: ProducedBy | undefined;
      };
    }
  | {
      readonly type: 'RecordUpload';
      readonly data: {
        readonly size: number;
        readonly sha256: string;
        readonly objectName: string;
      };
    }
  | {
      readonly type: 'DeleteFile';
      /**
       * `objectName`: the bytes the deleter removed first (null: none, the file was never
       * uploaded). If the file is not in that state any more (an upload landed meanwhile), the
       * deletion is refused, so no bytes are ever left behind a deleted file.
       */
      readonly data: { readonly reason: string; readonly objectName: string | null };
    };

export const initialFileState = (): FileState => ({ status: 'absent' });

export const stateNameOf = (state: FileState): StagedFileStateName | null =>
  state.status === 'absent' ? null : state.status;

export const evolveFile = (state: FileState, event: FileEvent): FileState => {
  switch (event.type) {
    case 'FileCreated':
      return {
        status: 'PENDING_UPLOAD',
        fileId: event.data.fileId,
        name: event.data.name,
        expectedSize: event.data.expectedSize ?? null,
        expectedSha256: event.data.expectedSha256 ?? null,
        producedBy: event.data.producedBy ?? null,
      };
    case 'FileUploaded':
      return {
        status: 'READY',
        fileId: event.data.fileId,
        name: state.status === 'absent' ? '' : state.name,
        size: event.data.size,
        sha256: event.data.sha256,
        objectName: event.data.objectName,
        producedBy: state.status === 'PENDING_UPLOAD' ? state.producedBy : null,
      };
    case 'FileDeleted':
      return {
        status: 'DELETED',
        fileId: event.data.fileId,
        name: state.status === 'absent' ? '' : state.name,
      };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
};

export const foldFile = (events: readonly FileEvent[]): FileState =>
  events.reduce(evolveFile, initialFileState());

/**
 * Why an upload to this file cannot be taken now, before a byte of it is read: the HTTP edge asks
 * this first so a refused upload costs no storage. null: go ahead.
 */
export const uploadRefusal = (state: FileState): GantryError | null => {
  switch (state.status) {
    case 'absent':
    case 'DELETED':
      return new GantryError(ErrorCodes.NOT_FOUND, 'no such file');
    case 'READY':
      return new GantryError(
        ErrorCodes.ILLEGAL_TRANSITION,
        `${state.fileId} is already uploaded; a staged file never changes`,
        { details: { fileId: state.fileId, state: state.status } },
      );
    case 'PENDING_UPLOAD':
      return null;
    default: {
      const unreachable: never = state;
      return unreachable;
    }
  }
};

export const decideFile = (state: FileState, command: FileCommand, now: Date): FileEvent[] => {
  switch (command.type) {
    case 'CreateFile': {
      if (state.status !== 'absent') {
        throw new GantryError(ErrorCodes.ILLEGAL_TRANSITION, `${state.fileId} already exists`, {
          details: { fileId: state.fileId },
        });
      }
      const { fileId, name, size, sha256, producedBy } = command.data;
      return [
        {
          type: 'FileCreated',
          data: {
            fileId,
            name,
            ...(size === undefined ? {} : { expectedSize: size }),
            ...(sha256 === undefined ? {} : { expectedSha256: sha256 }),
            ...(producedBy === undefined ? {} : { producedBy }),
            createdAt: now.toISOString(),
          },
        },
      ];
    }
    case 'RecordUpload': {
      const refusal = uploadRefusal(state);
      if (refusal) throw refusal;
      if (state.status !== 'PENDING_UPLOAD') return [];
      const { size, sha256, objectName } = command.data;
      const mismatch = mismatchOf(state, size, sha256);
      if (mismatch) throw mismatch;
      return [
        {
          type: 'FileUploaded',
          data: { fileId: state.fileId, size, sha256, objectName, uploadedAt: now.toISOString() },
        },
      ];
    }
    case 'DeleteFile': {
      // A repeat of a deletion (a sweep that stopped half-way) changes nothing.
      if (state.status === 'DELETED') return [];
      if (state.status === 'absent') throw new GantryError(ErrorCodes.NOT_FOUND, 'no such file');
      if (state.producedBy === null) {
        throw new GantryError(
          ErrorCodes.ILLEGAL_TRANSITION,
          `${state.fileId} is a tenant's own file; only an attempt's uncommitted files are deleted`,
          { details: { fileId: state.fileId } },
        );
      }
      const held = state.status === 'READY' ? state.objectName : null;
      if (held !== command.data.objectName) {
        throw new GantryError(
          ErrorCodes.ILLEGAL_TRANSITION,
          `${state.fileId} changed while it was being deleted`,
          { retryable: true, details: { fileId: state.fileId, state: state.status } },
        );
      }
      return [
        {
          type: 'FileDeleted',
          data: { fileId: state.fileId, reason: command.data.reason, deletedAt: now.toISOString() },
        },
      ];
    }
    default: {
      const unreachable: never = command;
      return unreachable;
    }
  }
};

const mismatchOf = (
  state: Extract<FileState, { status: 'PENDING_UPLOAD' }>,
  size: number,
  sha256: string,
): GantryError | null => {
  if (state.expectedSize !== null && state.expectedSize !== size) {
    return new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `the upload has ${size} bytes; ${state.expectedSize} were announced`,
      { details: { fileId: state.fileId, expectedSize: state.expectedSize, size } },
    );
  }
  if (state.expectedSha256 !== null && state.expectedSha256 !== sha256) {
    return new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      'the upload does not have the announced SHA-256 digest',
      { details: { fileId: state.fileId, expectedSha256: state.expectedSha256, sha256 } },
    );
  }
  return null;
};
