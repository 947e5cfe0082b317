import { Catch, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Nest's default RPC filter replaces every error that is not an RpcException with
 * `{ status: 'error', message: 'Internal server error' }`, which would erase the code and the
 * retryable flag the transport needs to choose between nak and dead-letter. This filter hands the
 * original error back unchanged; the JetStream transport maps it (CONVENTIONS.md #6).
 * Register it globally: `app.useGlobalFilters(new GantryRpcExceptionFilter())`.
 */
@Catch()
export class GantryRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
