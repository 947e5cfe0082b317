import { Module, type DynamicModule } from '@nestjs/common';
import { CommandProcessor, type EventStreams } from '@gantry/event-store';
import { JobCommandsController } from './job-commands.controller';
import { DEFAULT_TENANT_RETRY_RATE, type RetryRate } from '@gantry/domain';
import {
  JobCommandsService,
  NEW_JOB_ID,
  RETRY_LIMITER,
  RetryLimiter,
  STORED_FILES,
} from './job-commands.service';
import { type StoredFilesLookup } from './stored-files';
import { OwnedConnection } from './owned-connection';

/** What the controller is given rather than reaching for: the store, time and randomness. */
export interface ControllerDependencies {
  readonly store: EventStreams;
  readonly clock: () => Date;
  /** A uniform draw in [0, 1). */
  readonly random: () => number;
  /** A fresh job id, for a submission without an Idempotency-Key. */
  readonly newJobId: () => string;
  /** What the artifact store holds: the outputs and checkpoints agents report are checked on it. */
  readonly storedFiles: StoredFilesLookup;
  readonly maxAttempts?: number;
  /** Each tenant's retry rate limit (D3); default 5 retries a second after a burst of 20. */
  readonly retryRate?: RetryRate;
}

@Module({})
export class ControllerModule {
  static register(deps: ControllerDependencies): DynamicModule {
    return {
      module: ControllerModule,
      controllers: [JobCommandsController],
      providers: [
        {
          provide: CommandProcessor,
          useValue: new CommandProcessor(deps.store, {
            clock: deps.clock,
            random: deps.random,
            // A job's stream is decided on about ten times in its life, mostly within seconds.
            stateCache: { maxStreams: 5_000 },
            ...(deps.maxAttempts === undefined ? {} : { maxAttempts: deps.maxAttempts }),
          }),
        },
        { provide: NEW_JOB_ID, useValue: deps.newJobId },
        { provide: STORED_FILES, useValue: deps.storedFiles },
        {
          provide: RETRY_LIMITER,
          useValue: new RetryLimiter(deps.clock, deps.retryRate ?? DEFAULT_TENANT_RETRY_RATE),
        },
        JobCommandsService,
        OwnedConnection,
      ],
    };
  }
}
