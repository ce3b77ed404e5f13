/**
 * MediaContainer: the Cloudflare Containers binding for the media runner (containers/ffmpeg).
 *
 * No logic of its own: the Container base class owns this object's alarm, which is why the task's
 * watchdog lives in TaskObject instead. A stop mid-job surfaces to the task as a broken event stream,
 * which the task's retry policy treats as a retryable runner failure.
 */
import { Container } from '@cloudflare/containers';

export class MediaContainer extends Container<Env> {
  override defaultPort = 8080;
  /** Renewed by the task object on every watchdog tick while a job runs. */
  override sleepAfter = '5m';
  override envVars: Record<string, string> = { HOST: '0.0.0.0', PORT: '8080' };
}
