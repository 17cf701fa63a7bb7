// Spectral function for the rule portal-operation-problem-4xx: the operation documents at
// least one 4XX response, and every 4XX response (4NN or 4XX) carries
// application/problem+json content. Runs on the resolved document, so
// $ref: '#/components/responses/...' is already inlined.
const PROBLEM_JSON = 'application/problem+json';

export default function problemJson4xx(operation, _options, context) {
  // Spectral 6 wants result paths from the document root.
  const at = (...rest) => [...context.path, ...rest];
  if (operation === null || typeof operation !== 'object') {
    return;
  }
  const responses = operation.responses;
  if (responses === null || typeof responses !== 'object') {
    return [{ message: 'The operation has no responses.', path: at('responses') }];
  }
  const clientErrors = Object.keys(responses).filter((code) => /^4(\d\d|XX)$/i.test(code));
  if (clientErrors.length === 0) {
    return [
      {
        message: `The operation documents no 4XX response; add one with ${PROBLEM_JSON} content.`,
        path: at('responses'),
      },
    ];
  }
  const results = [];
  for (const code of clientErrors) {
    const content = (responses[code] && responses[code].content) || {};
    if (!Object.prototype.hasOwnProperty.call(content, PROBLEM_JSON)) {
      results.push({
        message: `Response ${code} has no ${PROBLEM_JSON} content.`,
        path: at('responses', code),
      });
    }
  }
  return results;
}
