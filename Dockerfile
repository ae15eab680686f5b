# The Airflow image every container of docker-compose.yml runs: Airflow 3.3.2 plus the pipeline's
# requirements, with the `pipeline` library importable and the DAGs and plugins baked in.
# Python 3.11 matches the version the project is developed and tested on.
FROM apache/airflow:3.3.2-python3.11

# Pinning apache-airflow alongside requirements.txt keeps pip from moving Airflow itself.
COPY --chown=airflow:root requirements.txt /opt/news/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/news/requirements.txt

COPY --chown=airflow:root pipeline/ /opt/news/pipeline/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
# The DAG folder too: the api-server's news_views plugin opens the store with dags/news_common.py.
ENV PYTHONPATH=/opt/news:/opt/airflow/dags
