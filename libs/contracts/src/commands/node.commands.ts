import { defineMessage, type MessageOf } from '../registry';
import { EnrolNodeRequestSchema } from '../node';

/** `<ns>.cmd.scheduler.enrol-node`: an agent asks to join (its data is the EnrolNodeRequest). */
export const EnrolNode = defineMessage('EnrolNode', 1, EnrolNodeRequestSchema);

export const nodeCommandDefinitions = [EnrolNode] as const;
export type NodeCommand = MessageOf<(typeof nodeCommandDefinitions)[number]>;
