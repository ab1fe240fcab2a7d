import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { pgliteTopology } from './support/topologies.js';

sagaScenarios(pgliteTopology());
