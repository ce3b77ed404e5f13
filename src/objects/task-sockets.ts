/**
 * Live subscribers of one task (see subscribers.ts for the contract). Used only by TaskObject.
 */
import type { TaskEvent, TaskSnapshot } from '../protocol/task.ts';
import { Subscribers } from './subscribers.ts';

export { MAX_CLIENT_MESSAGES } from './subscribers.ts';

export class TaskSockets extends Subscribers<TaskSnapshot, TaskEvent> {
  constructor(ctx: DurableObjectState) {
    super(ctx, 'task ended');
  }
}
