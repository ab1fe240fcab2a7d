import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { everyModuleApart, gatewayPlusPayments } from './support/split-topology.js';

// The same scenarios as in one process (DESIGN.md section 7), against real
// child processes, each with its own PostgreSQL database, events on BullMQ.
sagaScenarios(gatewayPlusPayments());
sagaScenarios(everyModuleApart());
