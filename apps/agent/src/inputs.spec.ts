import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  InputStagingError,
  inputRelativePath,
  placeStagedInputs,
  stageInputs,
  type Fetcher,
  type InputResolver,
} from './inputs';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const file = (ref: string, body: string, overrides = {}) => ({
  ref,
  url: `http://staging.test/${ref}`,
  sha256: sha(body),
  size: Buffer.byteLength(body),
  expiresAt: '2026-01-01T00:00:00Z',
  ...overrides,
});
const bodies: Record<string, string> = { 'file-a': 'alpha', 'file-b': 'bravo!' };
const fetcher: Fetcher = async (url) => {
  const ref = url.split('/').pop()!;
  return bodies[ref] === undefined
    ? new Response('no', { status: 404 })
    : new Response(bodies[ref]);
};

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'agent-inputs-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stage = (
  resolver: InputResolver,
  inputs = [
    { name: 'a', ref: 'file-a' },
    { name: 'b', ref: 'file-b', path: 'data/b.txt' },
  ],
) =>
  stageInputs({
    tenant: 'acme',
    jobId: 'j1',
    inputs,
    dir: path.join(dir, 'staging'),
    resolver,
    fetcher,
  });

describe('stageInputs', () => {
  it('never asks staging for a job without inputs', async () => {
    const resolver = jest.fn<ReturnType<InputResolver>, Parameters<InputResolver>>();
    await expect(stage(resolver, [])).resolves.toEqual([]);
    expect(resolver).not.toHaveBeenCalled();
  });

  it('downloads every input to its path and places them in the work dir', async () => {
    const resolver: InputResolver = async ({ refs, tenant, jobId }) => {
      expect({ refs, tenant, jobId }).toEqual({
        refs: ['file-a', 'file-b'],
        tenant: 'acme',
        jobId: 'j1',
      });
      return [file('file-a', 'alpha'), file('file-b', 'bravo!')];
    };
    const written = await stage(resolver);
    expect(written).toEqual(['inputs/a', 'data/b.txt']);
    const workDir = path.join(dir, 'work');
    await fs.mkdir(workDir);
    await placeStagedInputs(path.join(dir, 'staging'), workDir, written);
    expect(await fs.readFile(path.join(workDir, 'inputs/a'), 'utf8')).toBe('alpha');
    expect(await fs.readFile(path.join(workDir, 'data/b.txt'), 'utf8')).toBe('bravo!');
  });

  it.each([
    [
      'a digest that does not match',
      [file('file-a', 'alpha', { sha256: sha('other') }), file('file-b', 'bravo!')],
      /sha256/,
    ],
    [
      'a size that does not match',
      [file('file-a', 'alpha', { size: 4 }), file('file-b', 'bravo!')],
      /expected 4/,
    ],
    ['a ref staging did not resolve', [file('file-a', 'alpha')], /did not resolve input b/],
    [
      'a download that fails',
      [file('file-a', 'alpha', { url: 'http://staging.test/file-x' }), file('file-b', 'bravo!')],
      /HTTP 404/,
    ],
  ])('refuses %s', async (_name, files, message) => {
    await expect(stage(async () => files)).rejects.toThrow(InputStagingError);
    await expect(stage(async () => files)).rejects.toThrow(message);
  });

  it('reports staging being unreachable as a staging error', async () => {
    await expect(stage(() => Promise.reject(new Error('nobody is listening')))).rejects.toThrow(
      /staging could not resolve the inputs: nobody is listening/,
    );
  });
});

describe('inputRelativePath', () => {
  it('defaults to inputs/<name>', () => {
    expect(inputRelativePath({ name: 'x' })).toBe('inputs/x');
    expect(inputRelativePath({ name: 'x', path: 'a/b' })).toBe('a/b');
  });
});
