import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { postgresTopology } from './support/topologies.js';

sagaScenarios(postgresTopology());
