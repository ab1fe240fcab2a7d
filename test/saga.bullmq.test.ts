import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { bullmqTopology } from './support/topologies.js';

sagaScenarios(bullmqTopology());
