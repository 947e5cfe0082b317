import { Inject, Injectable } from '@nestjs/common';
import { alertStreamKey, streamIdOf, SYSTEM_TENANT, type AlertEvent } from '@gantry/contracts';
import {
  decideAlert,
  evolveAlert,
  initialAlertState,
  type AlertDecision,
  type AlertState,
} from '@gantry/domain';
import { CommandProcessor, type Decider } from '@gantry/event-store';
import { ADMISSION_DEPENDENCIES, type AdmissionDependencies } from './tenant-commands.service';

const ALERT_DECIDER: Decider<AlertState, AlertDecision, AlertEvent> = {
  initialState: initialAlertState,
  evolve: evolveAlert,
  decide: decideAlert,
};

/** Admission's alerts (H3: quota drift, budgets), each an event on its condition's stream. */
@Injectable()
export class AlertsService {
  private readonly processor: CommandProcessor;

  constructor(@Inject(ADMISSION_DEPENDENCIES) private readonly deps: AdmissionDependencies) {
    this.processor = new CommandProcessor(deps.store, {
      clock: deps.clock,
      random: () => Buffer.from(deps.randomBytes(4)).readUInt32BE() / 2 ** 32,
    });
  }

  /** Raises or resolves; true when it changed something (an open alert is not raised again). */
  async decide(decision: AlertDecision, correlationId: string): Promise<boolean> {
    const result = await this.processor.handle(
      ALERT_DECIDER,
      streamIdOf('alert', alertStreamKey(decision.kind, decision.subject)),
      decision,
      { tenant: SYSTEM_TENANT, causationId: correlationId, correlationId, actor: 'admission' },
    );
    return result.appended.length > 0;
  }
}
