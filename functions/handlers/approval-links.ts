import { decideByLink, showApprovalLink } from '../application/decide-by-link.js';
import type { Deps } from '../application/ports.js';
import { htmlResponse } from '../shared/http.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import { confirmationPage, linkResultPage } from '../views/pages.js';
import type { DepsSource, HttpHandlerOptions } from './http-middleware.js';
import { httpLambda } from './lambda.js';
import { ApprovalForm } from './routes.js';

/** GET shows the confirmation page (never decides); POST decides once. Every answer is an HTML page. */
export function createHandler(deps: DepsSource<Deps>, options: HttpHandlerOptions = {}) {
  return httpLambda(
    'approval-links',
    deps,
    async (state, resolved, event) => {
      const token = state.match.params.token ?? '';
      // Refused attempts are tallied per source address (API Gateway's, not a header the caller sets).
      const sourceIp = event.requestContext?.identity?.sourceIp ?? undefined;
      if (state.match.route.method === 'GET') {
        const model = await showApprovalLink({ token, sourceIp }, resolved);
        // The form posts back to the page's own URL (relative), whatever stage prefix is in front.
        const actionUrl = event.path.split('/').at(-1) ?? '';
        return htmlResponse(
          200,
          confirmationPage(model.facts, {
            approver: model.approver,
            actionUrl,
            csrf: model.csrf,
            expiresAt: model.expiresAt,
            ...(model.extension ? { extension: model.extension } : {}),
          }),
        );
      }
      const form = ApprovalForm.parse(state.body);
      const result = await decideByLink(
        { token, decision: form.decision, csrf: form.csrf, comment: form.comment, sourceIp },
        resolved,
      );
      return htmlResponse(
        200,
        linkResultPage({ kind: 'decided', decision: form.decision, status: result.status }),
      );
    },
    {
      ...options,
      render: (error) =>
        htmlResponse(
          error.statusCode,
          linkResultPage({
            kind: 'refused',
            code: error.code,
            message: error.message,
          }),
        ),
    },
  );
}

// No provisioners: the unauthenticated route reaches no database and reads no admin secret.
export const handler = createHandler(
  lazyDeps(() => lambdaDeps({ mailer: lambdaMailer(), workflow: lambdaWorkflow() })),
);
