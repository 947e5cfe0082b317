import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem';

/** Every error leaves the gateway as application/problem+json (issue 3), whatever threw it. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly onInternal?: (err: unknown) => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    sendProblem(reply, exception, this.onInternal);
  }
}

export const sendProblem = (
  reply: FastifyReply,
  err: unknown,
  onInternal?: (err: unknown) => void,
): void => {
  const problem = toProblem(err);
  if (problem.status >= 500) onInternal?.(err);
  void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
};
