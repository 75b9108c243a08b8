"""The mathematics the neuron methods share (KN, MEMLA and its controls): integrated-gradients attribution of
each MLP neuron (`attribution`). Not a method: registers nothing."""
