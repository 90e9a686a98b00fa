/** Runs the behaviour suite against every queue implementation. */
import { memoryBackend, mongoBackend } from '../support/backends';
import { queueBehaviour } from './queue-behaviour';

describe('queue behaviour: in-memory', () => queueBehaviour(memoryBackend));
describe('queue behaviour: MongoDB', () => queueBehaviour(mongoBackend));
