import { ErrorCodes, GantryError, type FileEvent, type FileId } from '@gantry/contracts';

export type StagedFileStateName = 'PENDING_UPLOAD' | 'READY';

/**
 * The staged file aggregate, pure (CONVENTIONS.md #1). One stream per file, its id the file id:
 *
 *   (absent) --CreateFile--> PENDING_UPLOAD --RecordUpload--> READY
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
    }
  | {
      readonly status: 'READY';
      readonly fileId: FileId;
      readonly name: string;
      readonly size: number;
      readonly sha256: string;
      readonly objectName: string;
    };

export type FileCommand =
  | {
      readonly type: 'CreateFile';
      readonly data: {
        readonly fileId: FileId;
        readonly name: string;
        readonly size?: number | undefined;
        readonly sha256?: string | undefined;
      };
    }
  | {
      readonly type: 'RecordUpload';
      readonly data: {
        readonly size: number;
        readonly sha256: string;
        readonly objectName: string;
      };
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
      };
    case 'FileUploaded':
      return {
        status: 'READY',
        fileId: event.data.fileId,
        name: state.status === 'absent' ? '' : state.name,
        size: event.data.size,
        sha256: event.data.sha256,
        objectName: event.data.objectName,
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
      const { fileId, name, size, sha256 } = command.data;
      return [
        {
          type: 'FileCreated',
          data: {
            fileId,
            name,
            ...(size === undefined ? {} : { expectedSize: size }),
            ...(sha256 === undefined ? {} : { expectedSha256: sha256 }),
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
