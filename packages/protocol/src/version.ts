export const version = '0.1.0';

/**
 * The agent ↔ server message format, sent by the agent with every heartbeat. The server
 * refuses agents below its minimum with device_agent_outdated, saying what to do.
 *   2: the desired rental carries the password's crypt(3) hash (`passwordHash`), never the password.
 */
export const agentProtocol = 2;
