import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  type CommandEnvelope,
  type EnrolNodeReply,
  type EventEnvelope,
  type NodeStandingReply,
} from '@gantry/contracts';
import { OnCommand, OnEvent } from '@gantry/messaging';
import { SchedulerEngine } from './scheduler.engine';

/** `<ns>.cmd.scheduler.enrol-node`: the agent's way in. */
@Controller()
export class EnrolNodeController {
  constructor(@Inject(SchedulerEngine) private readonly engine: SchedulerEngine) {}

  @OnCommand('enrol-node')
  enrol(@Payload() command: CommandEnvelope): Promise<EnrolNodeReply> {
    return this.engine.enrol(command.data);
  }
}

/**
 * C9, an admin's cordon, drain, uncordon and clear (`<ns>.cmd.scheduler.<verb>`): any replica may
 * decide them (the node's stream takes them with optimistic concurrency); the leader hears the
 * outcome as node events.
 */
@Controller()
export class NodeStandingController {
  constructor(@Inject(SchedulerEngine) private readonly engine: SchedulerEngine) {}

  @OnCommand('cordon-node')
  cordon(@Payload() command: CommandEnvelope): Promise<NodeStandingReply> {
    return this.engine.changeStanding(command);
  }

  @OnCommand('drain-node')
  drain(@Payload() command: CommandEnvelope): Promise<NodeStandingReply> {
    return this.engine.changeStanding(command);
  }

  @OnCommand('uncordon-node')
  uncordon(@Payload() command: CommandEnvelope): Promise<NodeStandingReply> {
    return this.engine.changeStanding(command);
  }

  @OnCommand('clear-node')
  clear(@Payload() command: CommandEnvelope): Promise<NodeStandingReply> {
    return this.engine.changeStanding(command);
  }
}

/** Node events (the standing another replica, or this one, decided), folded by the engine. */
@Controller()
export class NodeEventsController {
  constructor(@Inject(SchedulerEngine) private readonly engine: SchedulerEngine) {}

  @OnEvent('NodeEnrolled')
  nodeEnrolled(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeLost')
  nodeLost(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeCordoned')
  nodeCordoned(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeDrainStarted')
  nodeDrainStarted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeDrained')
  nodeDrained(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeUncordoned')
  nodeUncordoned(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeQuarantined')
  nodeQuarantined(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeProbeFailed')
  nodeProbeFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }

  @OnEvent('NodeQuarantineCleared')
  nodeQuarantineCleared(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onNodeEvent(event);
  }
}

/**
 * Job events from the scheduler's durable consumer: thin handlers, one per type, all folded by
 * the engine (the fold is in job-view.ts).
 */
@Controller()
export class JobEventsController {
  constructor(@Inject(SchedulerEngine) private readonly engine: SchedulerEngine) {}

  @OnEvent('JobSubmitted')
  jobSubmitted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobAdmitted')
  jobAdmitted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobRejected')
  jobRejected(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobBlocked')
  jobBlocked(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobQueued')
  jobQueued(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobHeld')
  jobHeld(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobReleased')
  jobReleased(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobLeased')
  jobLeased(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobStagingStarted')
  jobStagingStarted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobStarted')
  jobStarted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('RankExited')
  rankExited(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('LeaseExpired')
  leaseExpired(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('AttemptFailed')
  attemptFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobRetryScheduled')
  jobRetryScheduled(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobSucceeded')
  jobSucceeded(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobFailed')
  jobFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobDeadLettered')
  jobDeadLettered(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobCancelRequested')
  jobCancelRequested(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('AttemptPreemptionRequested')
  attemptPreemptionRequested(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('AttemptPreempted')
  attemptPreempted(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }

  @OnEvent('JobCancelled')
  jobCancelled(@Payload() event: EventEnvelope): Promise<void> {
    return this.engine.onJobEvent(event);
  }
}
