/**
 * Stands in for `bowser` (~34 KB, a browser user-agent parser) in Lambda bundles: @aws-sdk/core imports it
 * only to describe a browser in the SDK's user agent, and a Lambda function is never one.
 */
export default {
  parse(): never {
    throw new Error('bowser is not bundled: jit-db-access runs on Node.js, never in a browser');
  },
};
