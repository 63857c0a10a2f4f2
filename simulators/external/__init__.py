"""SCMs drawn the way other published simulators draw them, for evaluation on data this project's
own prior (simulators/prior) never produced: `notears` (Zheng et al. 2018, 2020), `cdt` (the Causal
Discovery Toolbox's AcyclicGraphGenerator, Kalainathan et al. 2020). Each module is our own code,
written from the published generator's conventions (graph, mechanisms, noise, scaling), with every
draw from an explicit ``numpy.random.Generator``; `suites` names the configurations as data."""
