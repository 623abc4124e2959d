/**
 * `load` run on the first call and its promise shared by every later call; a rejected load is forgotten, so
 * the next call tries again (a cold Lambda whose first SDK import or secret read failed is not stuck).
 */
export function lazyOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
