import { errorCodesOf, findRoute, type OperationId } from '../../functions/handlers/routes.js';
import { errorResponse } from '../../functions/views/responses.js';

/**
 * How an answer differs from what the OpenAPI document says: a success must parse with the route's (strict)
 * response schema, a JSON refusal with the error shape narrowed to the codes the route documents. Paths no route
 * serves (the local server's /outbox, a 404 on purpose) are not the document's business.
 */
export function undocumented(
  method: string,
  path: string,
  status: number,
  body: string,
): { operationId?: OperationId; success: boolean; problems: string[] } {
  const lookup = findRoute(method, path.split('?')[0] ?? path);
  if (!lookup.found) return { success: false, problems: [] };
  const { route } = lookup.match;
  const success = status === route.successStatus;
  if (!success && route.produces === 'html') return { operationId: route.operationId, success, problems: [] };
  const schema = success ? route.response : errorResponse(errorCodesOf(route));
  const parsed = schema.safeParse(route.produces === 'html' ? body : JSON.parse(body));
  const problems = (parsed.error?.issues ?? []).map(
    (issue) =>
      `${route.operationId} ${status} ${success ? 'success' : 'refusal'}: ${issue.path.join('.')}: ${issue.message}`,
  );
  return { operationId: route.operationId, success, problems };
}
