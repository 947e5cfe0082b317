import { ServiceProcess } from '@gantry/platform';
import { WORKSPACE_ROOT } from '@gantry/testing';

/** A Gantry service's main.ts as a child process, ready once it logs that it started. */
export const startService = async (
  app: string,
  env: NodeJS.ProcessEnv,
): Promise<ServiceProcess> => {
  const service = ServiceProcess.spawn({
    name: app,
    entry: `apps/${app}/src/main.ts`,
    cwd: WORKSPACE_ROOT,
    env: { ...process.env, ...env },
  });
  await service.waitFor(/"event":"started"/);
  return service;
};
