/**
 * The pace check of a streaming upload: a client that sends slower than UPLOAD_MIN_BYTES_PER_SEC, averaged over
 * UPLOAD_RATE_WINDOW_MS, is cut off, so a 1 byte/s client cannot hold a connection and an upstream request open for
 * minutes. Windows in which the gateway itself held the client back (backpressure from a slow EPMware) do not count
 * against it.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/** The slowest pace an upload may keep: fewer than minBytesPerSec over a whole window cuts it off (0: never). */
export interface UploadPace {
  minBytesPerSec: number;
  windowMs: number;
}

export function tooSlow(pace: UploadPace): GatewayError {
  return new GatewayError(
    'BAD_USER_INPUT',
    `The upload was cut off: it sent fewer than ${pace.minBytesPerSec} bytes/s over ${pace.windowMs} ms ` +
      '(UPLOAD_MIN_BYTES_PER_SEC, UPLOAD_RATE_WINDOW_MS)',
  );
}

/**
 * Calls `onTooSlow` once if a whole window passes in which the client sent fewer than the floor's bytes while the
 * gateway was reading (a window with backpressure, req paused, is not held against the client). Stops by itself
 * when the request ends or closes; the returned function stops it sooner (the answer is out: nothing the client
 * still sends matters to the upload any more).
 */
export function watchPace(req: IncomingMessage, pace: UploadPace, onTooSlow: () => void): () => void {
  if (pace.minBytesPerSec <= 0) return () => {};
  const floorBytes = (pace.minBytesPerSec * pace.windowMs) / 1000;
  let received = 0;
  let heldBack = req.isPaused();
  const onData = (chunk: Buffer) => {
    received += chunk.length;
  };
  const onPause = () => {
    heldBack = true;
  };
  const timer = setInterval(() => {
    if (req.complete) return stop();
    if (!heldBack && received < floorBytes) {
      stop();
      onTooSlow();
      return;
    }
    received = 0;
    heldBack = req.isPaused();
  }, pace.windowMs);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('data', onData);
    req.off('pause', onPause);
    req.off('end', stop);
    req.off('close', stop);
  };
  req.on('data', onData);
  req.on('pause', onPause);
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}
