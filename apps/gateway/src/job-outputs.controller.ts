import { Controller, Get, Headers, Inject, Param, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { ErrorCodes, GantryError, type ResolveInputsReply } from '@gantry/contracts';
import { Authenticator } from './authenticator';
import { CommandSender, originOfKey } from './commands';
import { JobsReadModel } from './jobs.read-model';
import { JobIdSchema, type JobOutputDownloadView } from './schemas';

/**
 * A job's committed outputs (D4) for download. The bytes stay with staging: the answer is a
 * signed GET of the stored file, made by staging for the caller's tenant, exactly as an agent gets
 * its inputs. Only a committed output is offered; an attempt's uncommitted upload never is.
 */
@Controller('v1/jobs')
export class JobOutputsController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
    @Inject(JobsReadModel) private readonly jobs: JobsReadModel,
  ) {}

  @Get(':id/outputs/:name')
  async download(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Param('name') name: string,
    @Req() req: FastifyRequest,
  ): Promise<JobOutputDownloadView> {
    const key = await this.auth.tenant(authorization);
    // Another tenant's job is as missing as an unknown one (invariant 7).
    const job = JobIdSchema.safeParse(id).success ? await this.jobs.get(key.tenant, id) : null;
    if (job === null) throw new GantryError(ErrorCodes.NOT_FOUND, 'no such job');
    const output = job.outputs.find((o) => o.name === name);
    if (output === undefined) {
      throw new GantryError(ErrorCodes.NOT_FOUND, `job ${id} has no committed output ${name}`, {
        details: { jobId: id, name, outputs: job.outputs.map((o) => o.name) },
      });
    }
    const origin = originOfKey(key, req);
    // B1: a download URL hands out the output's bytes, so they count against the month's egress
    // before it is made (refused at 90 % of the quota, like every dimension). Each URL asked for
    // is one download's worth; a URL used twice within its few minutes is not counted twice.
    await this.commands.send(
      'admission',
      'charge-egress',
      'ChargeEgress',
      { id: key.tenant, ref: `${id}/${name}`, bytes: output.size },
      origin,
    );
    const { files } = await this.commands.send<ResolveInputsReply>(
      'staging',
      'resolve-inputs',
      'ResolveInputs',
      { jobId: id, refs: [output.ref] },
      origin,
    );
    const file = files[0];
    if (file === undefined || file.sha256 !== output.sha256) {
      // The committed digest is the promise: bytes that are not those are never handed out.
      throw new GantryError(
        ErrorCodes.INTERNAL,
        `the stored bytes of output ${name} are not the committed ones`,
        {
          details: { jobId: id, name, ref: output.ref },
        },
      );
    }
    return { ...output, url: file.url, expiresAt: file.expiresAt };
  }
}
