from django.urls import path
from viewflow.workflow.flow import FlowViewset

from .flows import PeerFlow

urlpatterns = [path("flow/", FlowViewset(PeerFlow).urls)]
