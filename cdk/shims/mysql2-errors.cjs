'use strict';
/**
 * Stands in for mysql2's lib/constants/errors.js (~145 KB minified: every MySQL error name both ways) in
 * Lambda bundles, through the plugin in cdk/bundling.ts. mysql2 uses that table to set `err.code` from the
 * server's errno and to name a few codes of its own; our provisioners decide on `errno` alone. Kept here: the
 * codes mysql2 and our provisioners name, and those an operator meets in grant/revoke logs. Any other error
 * keeps its errno, sqlState and message, with `code` undefined. test/infra/bundles.test.ts checks every entry
 * against the real table.
 */
const CODES = {
  HA_ERR_INTERNAL_ERROR: 122,
  ER_CON_COUNT_ERROR: 1040,
  ER_DBACCESS_DENIED_ERROR: 1044,
  ER_ACCESS_DENIED_ERROR: 1045,
  ER_NO_DB_ERROR: 1046,
  ER_UNKNOWN_COM_ERROR: 1047,
  ER_BAD_DB_ERROR: 1049,
  ER_SERVER_SHUTDOWN: 1053,
  ER_PARSE_ERROR: 1064,
  ER_NO_SUCH_THREAD: 1094,
  ER_UNKNOWN_ERROR: 1105,
  ER_HOST_IS_BLOCKED: 1129,
  ER_HOST_NOT_PRIVILEGED: 1130,
  ER_PASSWORD_NO_MATCH: 1133,
  ER_NONEXISTING_GRANT: 1141,
  ER_TABLEACCESS_DENIED_ERROR: 1142,
  ER_NO_SUCH_TABLE: 1146,
  ER_NET_PACKETS_OUT_OF_ORDER: 1156,
  ER_NET_READ_ERROR: 1158,
  ER_UNKNOWN_SYSTEM_VARIABLE: 1193,
  ER_TOO_MANY_USER_CONNECTIONS: 1203,
  ER_LOCK_WAIT_TIMEOUT: 1205,
  ER_LOCK_DEADLOCK: 1213,
  ER_USER_LIMIT_REACHED: 1226,
  ER_SPECIFIC_ACCESS_DENIED_ERROR: 1227,
  ER_NOT_SUPPORTED_AUTH_MODE: 1251,
  ER_WARN_DEPRECATED_SYNTAX: 1287,
  ER_OPTION_PREVENTS_STATEMENT: 1290,
  ER_QUERY_INTERRUPTED: 1317,
  ER_CANNOT_USER: 1396,
  ER_NO_SUCH_USER: 1449,
  ER_PLUGIN_IS_NOT_LOADED: 1524,
  ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: 1792,
  ER_MUST_CHANGE_PASSWORD: 1820,
  ER_READ_ONLY_MODE: 1836,
  ER_ACCOUNT_HAS_BEEN_LOCKED: 3118,
};

for (const [name, code] of Object.entries(CODES)) {
  exports[name] = code;
  exports[code] = name;
}
