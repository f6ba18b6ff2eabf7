"""The proxy process model: no table of its own, its decimals live in viewflow's ``process.data``."""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies = [("viewflow", "0015_task_scheduled")]
    operations = [migrations.CreateModel(name="PeerProcess", fields=[], options={"proxy": True},
                                         bases=("viewflow.process",))]
