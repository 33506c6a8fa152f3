// Helpers shared by the Redis benchmarks: worker processes spoken to over IPC, and free ports.
import { createServer } from 'node:net';

/** The next message from a worker; rejects if it exits first or reports an error. */
export function nextMessage(child) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`benchmark worker exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      if (message.type === 'error') reject(new Error(message.message));
      else resolve(message);
    });
  });
}

/** Sends `message` to every worker and resolves their answers. */
export function all(workers, message) {
  return Promise.all(
    workers.map((child) => {
      const answer = nextMessage(child);
      child.send(message);
      return answer;
    }),
  );
}

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
