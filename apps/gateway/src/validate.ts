import { type z } from 'zod';
import { validationError } from '@gantry/contracts';

/** Parses input with a route's schema; a failure is a 400 listing every issue. */
export const parseInput = <S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> => {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationError(what, parsed.error);
  return parsed.data;
};
