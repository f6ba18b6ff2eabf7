"""A procedure as data: the files of a variant's bundle and everything that reads them without running them.

Loading and checking bundles (``bundle``, ``checks``, ``structure``, ``modelers``, ``references``, ``names``,
``scripts``: the sandbox's static checks; every problem at once: ``problems``), forms, schemes and scoring rules
(``forms``, ``scoring``, ``scoring_rules``, ``grading``, ``scheme_excel``), bodies and regions as rows (``bodies``,
``region_file``), the variant's stored versions and their deployment (``versions``, ``deployment``), the library's
drafts, overview and diff (``drafts``, ``library``, ``diff``), and moving running instances to a newer version
(``migration``, which runs SpiffWorkflow's own diff and migrate). Running assessments live in ``engine.running``.
"""
