"""A procedure as data: the files of a variant's bundle and everything that reads them without running them.

Loading and checking bundles (``bundle``, ``checks``, ``references``, ``names``, ``scripts``), forms, schemes
and scoring rules (``forms``, ``scoring``, ``scoring_rules``, ``grading``), bodies, the variant's stored
versions and their deployment (``versions``, ``deployment``), and the library's drafts and overview
(``drafts``, ``library``; every problem at once: ``problems``). Running instances live in the ``engine``
package around this one; nothing here advances a workflow.
"""
