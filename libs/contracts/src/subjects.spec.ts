import { createSubjects, streamIdOf, SYSTEM_TENANT, ErrorCodes } from './index';

describe('subject catalogue', () => {
  const subjects = createSubjects();

  it('builds the subjects ARCHITECTURE.md names', () => {
    const stream = streamIdOf('job', 'j-1');
    expect(subjects.command('scheduler', 'place')).toBe('gantry.cmd.scheduler.place');
    expect(subjects.event('acme', stream, 'JobSubmitted')).toBe(
      'gantry.evt.acme.job.j-1.JobSubmitted',
    );
    expect(subjects.eventsOfTenant('acme')).toBe('gantry.evt.acme.>');
    expect(subjects.eventsOfAggregate('job')).toBe('gantry.evt.*.job.>');
    expect(subjects.eventsOfType('job', 'JobSucceeded')).toBe('gantry.evt.*.job.*.JobSucceeded');
    expect(subjects.log('acme', 'j-1', 2, 0)).toBe('gantry.log.acme.j-1.2.0');
    expect(subjects.logCommitted('acme', 'j-1')).toBe('gantry.log-committed.acme.j-1');
    expect(subjects.node('node-7', 'heartbeat')).toBe('gantry.node.node-7.heartbeat');
    expect(subjects.deadLetter('projections')).toBe('gantry.dlq.projections');
    expect(subjects.allNodeKind('heartbeat')).toBe('gantry.node.*.heartbeat');
    expect(subjects.leaderCommand('scheduler', 'explain')).toBe('gantry.leader.scheduler.explain');
  });

  it('lets the system pseudo-tenant through but no tenant can pose as it', () => {
    expect(subjects.event(SYSTEM_TENANT, streamIdOf('pool', 'cpu'), 'PoolDeclared')).toBe(
      'gantry.evt._system.pool.cpu.PoolDeclared',
    );
  });

  it('uses its own namespace, so test runs never see each other', () => {
    expect(createSubjects('t_abc').allEvents()).toBe('t_abc.evt.>');
  });

  it.each([
    ['a wildcard tenant', () => subjects.eventsOfTenant('*')],
    ['a full wildcard', () => subjects.eventsOfTenant('>')],
    ['a dotted tenant that would widen the subject', () => subjects.eventsOfTenant('acme.evil')],
    ['an upper-case tenant', () => subjects.eventsOfTenant('ACME')],
    ['a dotted verb', () => subjects.command('gateway', 'a.b')],
    ['a space in a job id', () => subjects.log('acme', 'j 1', 1, 0)],
    ['a negative rank', () => subjects.log('acme', 'j1', 1, -1)],
    ['a wildcard node kind', () => subjects.allNodeKind('>')],
    ['a wildcard job in a log wake-up', () => subjects.logCommitted('acme', '*')],
  ])('refuses %s', (_name, build) => {
    expect(build).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_SUBJECT_TOKEN }));
  });
});
