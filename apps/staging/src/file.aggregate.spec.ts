import { ErrorCodes, GantryError, type FileEvent } from '@gantry/contracts';
import { fileIdFrom, fileStreamId } from './file-id';
import { decideFile, foldFile, uploadRefusal, type FileCommand } from './file.aggregate';

const NOW = new Date('2026-11-23T10:00:00.000Z');
const FILE = fileIdFrom('0f8c6d1e-2b3a-4c5d-8e9f-a0b1c2d3e4f5');
const SHA = 'a'.repeat(64);
const OTHER_SHA = 'b'.repeat(64);

const created = (
  extra: {
    expectedSize?: number;
    expectedSha256?: string;
    producedBy?: { jobId: string; leaseEpoch: number };
  } = {},
): FileEvent => ({
  type: 'FileCreated',
  data: { fileId: FILE, name: 'in.csv', ...extra, createdAt: NOW.toISOString() },
});
const uploaded: FileEvent = {
  type: 'FileUploaded',
  data: {
    fileId: FILE,
    size: 3,
    sha256: SHA,
    objectName: `${FILE}.1`,
    uploadedAt: NOW.toISOString(),
  },
};
const upload = (size: number, sha256: string): FileCommand => ({
  type: 'RecordUpload',
  data: { size, sha256, objectName: `${FILE}.2` },
});

/** given events, when command: the events decided, or the refusal's code. */
const when = (given: readonly FileEvent[], command: FileCommand): FileEvent[] | string => {
  try {
    return decideFile(foldFile(given), command, NOW);
  } catch (err) {
    if (err instanceof GantryError) return err.code;
    throw err;
  }
};

describe('file ids', () => {
  it('are their own stream ids', () => {
    expect(FILE).toBe('file-0f8c6d1e2b3a4c5d8e9fa0b1c2d3e4f5');
    expect(fileStreamId(FILE)).toBe(FILE);
  });
});

describe('the file aggregate', () => {
  it('creates a file with what was announced', () => {
    expect(
      when([], {
        type: 'CreateFile',
        data: { fileId: FILE, name: 'in.csv', size: 3, sha256: SHA },
      }),
    ).toEqual([created({ expectedSize: 3, expectedSha256: SHA })]);
  });

  it('creates a file announcing nothing without undefined fields', () => {
    const events = when([], { type: 'CreateFile', data: { fileId: FILE, name: 'in.csv' } });
    expect(events).toEqual([created()]);
    expect(Object.keys((events as FileEvent[])[0]!.data).sort()).toEqual([
      'createdAt',
      'fileId',
      'name',
    ]);
  });

  it('refuses to create a file twice', () => {
    expect(when([created()], { type: 'CreateFile', data: { fileId: FILE, name: 'x' } })).toBe(
      ErrorCodes.ILLEGAL_TRANSITION,
    );
  });

  it('records an upload that matches the announcement', () => {
    expect(when([created({ expectedSize: 3, expectedSha256: SHA })], upload(3, SHA))).toEqual([
      {
        type: 'FileUploaded',
        data: {
          fileId: FILE,
          size: 3,
          sha256: SHA,
          objectName: `${FILE}.2`,
          uploadedAt: NOW.toISOString(),
        },
      },
    ]);
  });

  it.each<[string, FileEvent[], FileCommand, string]>([
    ['an upload to no file', [], upload(3, SHA), ErrorCodes.NOT_FOUND],
    ['a second upload', [created(), uploaded], upload(3, SHA), ErrorCodes.ILLEGAL_TRANSITION],
    [
      'the wrong size',
      [created({ expectedSize: 4 })],
      upload(3, SHA),
      ErrorCodes.VALIDATION_FAILED,
    ],
    [
      'the wrong digest',
      [created({ expectedSha256: OTHER_SHA })],
      upload(3, SHA),
      ErrorCodes.VALIDATION_FAILED,
    ],
  ])('refuses %s', (_name, given, command, code) => {
    expect(when(given, command)).toBe(code);
  });

  it('says before any byte is read whether an upload can be taken', () => {
    expect(uploadRefusal(foldFile([]))?.code).toBe(ErrorCodes.NOT_FOUND);
    expect(uploadRefusal(foldFile([created()]))).toBeNull();
    expect(uploadRefusal(foldFile([created(), uploaded]))?.code).toBe(
      ErrorCodes.ILLEGAL_TRANSITION,
    );
  });

  it('folds to READY with the stored object', () => {
    expect(foldFile([created(), uploaded])).toMatchObject({
      status: 'READY',
      name: 'in.csv',
      size: 3,
      sha256: SHA,
      objectName: `${FILE}.1`,
    });
  });

  describe("deletion (D4: an attempt's uncommitted file)", () => {
    const made = created({ producedBy: { jobId: 'j-1', leaseEpoch: 2 } });
    const remove = (objectName: string | null): FileCommand => ({
      type: 'DeleteFile',
      data: { reason: 'never committed', objectName },
    });
    const deleted: FileEvent = {
      type: 'FileDeleted',
      data: { fileId: FILE, reason: 'never committed', deletedAt: NOW.toISOString() },
    };

    it('records who made a file an attempt stored', () => {
      expect(
        when([], {
          type: 'CreateFile',
          data: { fileId: FILE, name: 'in.csv', producedBy: { jobId: 'j-1', leaseEpoch: 2 } },
        }),
      ).toEqual([made]);
    });

    it.each<[string, FileEvent[], string | null]>([
      ['an uploaded one', [made, uploaded], `${FILE}.1`],
      ['one never uploaded', [made], null],
    ])('deletes %s, with the reason', (_case, given, objectName) => {
      expect(when(given, remove(objectName))).toEqual([deleted]);
      expect(foldFile([...given, deleted])).toMatchObject({ status: 'DELETED', name: 'in.csv' });
    });

    it('answers a repeated deletion with nothing', () => {
      expect(when([made, uploaded, deleted], remove(`${FILE}.1`))).toEqual([]);
    });

    it.each<[string, FileEvent[], string]>([
      ["a tenant's own file", [created(), uploaded], ErrorCodes.ILLEGAL_TRANSITION],
      ['no file', [], ErrorCodes.NOT_FOUND],
    ])('refuses to delete %s', (_case, given, code) => {
      expect(when(given, remove(`${FILE}.1`))).toBe(code);
    });

    it('refuses a deletion that removed no bytes of a file an upload made READY meanwhile', () => {
      expect(when([made, uploaded], remove(null))).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    });

    it('takes no upload to a deleted file', () => {
      expect(uploadRefusal(foldFile([made, deleted]))?.code).toBe(ErrorCodes.NOT_FOUND);
      expect(when([made, deleted], upload(3, SHA))).toBe(ErrorCodes.NOT_FOUND);
    });
  });
});
