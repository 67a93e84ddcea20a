"""towpath in Apache Airflow: an operator, a deferrable high-water-mark sensor, and a DAG factory.

Importing this package needs Airflow and the standard library only: every
towpath command runs through the towpath CLI (`towpath_bin`), so Airflow and
towpath may live in separate virtual environments (docs/orchestration.md).
"""

from towpath.airflow._command import TowpathCommandError
from towpath.airflow.dags import ScheduleExportError, dags_from_project
from towpath.airflow.operator import TowpathWorkflowOperator
from towpath.airflow.sensor import TowpathHwmSensor, TowpathHwmTrigger

__all__ = [
    "ScheduleExportError",
    "TowpathCommandError",
    "TowpathHwmSensor",
    "TowpathHwmTrigger",
    "TowpathWorkflowOperator",
    "dags_from_project",
]
